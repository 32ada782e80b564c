/* Client-side search of the preview site: no server, no CDN.
   site_libs/search-index.js defines window.BOOK_SEARCH_INDEX, one entry per section:
   {href, title, section, text}. Every word typed must occur; section headings weigh more.
   An address ending in ?q=words opens with the results shown. */
(function () {
  "use strict";
  var input = document.getElementById("search-input");
  var list = document.getElementById("search-results");
  if (!input || !list) { return; }
  var root = document.body.getAttribute("data-root") || "";

  function count(hay, term) {
    var n = 0, i = hay.indexOf(term);
    while (i !== -1) { n += 1; i = hay.indexOf(term, i + term.length); }
    return n;
  }

  function snippet(text, term) {
    var i = text.toLowerCase().indexOf(term);
    if (i < 0) { return text.slice(0, 140); }
    var start = Math.max(0, i - 60);
    return (start > 0 ? "…" : "") + text.slice(start, i + 80) + "…";
  }

  function search(query) {
    var terms = query.toLowerCase().split(/\s+/).filter(function (t) { return t.length > 1; });
    list.textContent = "";
    if (!terms.length) { list.hidden = true; return; }
    var hits = [];
    (window.BOOK_SEARCH_INDEX || []).forEach(function (entry) {
      var head = (entry.title + " " + entry.section).toLowerCase();
      var body = entry.text.toLowerCase();
      var score = 0;
      for (var k = 0; k < terms.length; k++) {
        var inHead = count(head, terms[k]), inBody = count(body, terms[k]);
        if (!inHead && !inBody) { return; }
        score += 10 * inHead + inBody;
      }
      hits.push({ entry: entry, score: score });
    });
    hits.sort(function (a, b) { return b.score - a.score; });
    if (!hits.length) {
      var none = document.createElement("li");
      none.className = "search-none";
      none.textContent = "No section mentions “" + query.trim() + "”.";
      list.appendChild(none);
    }
    hits.slice(0, 20).forEach(function (hit) {
      var li = document.createElement("li");
      var a = document.createElement("a");
      a.href = root + hit.entry.href;
      a.textContent = hit.entry.section === hit.entry.title ? hit.entry.title
        : hit.entry.title + " › " + hit.entry.section;
      var p = document.createElement("span");
      p.className = "search-snippet";
      p.textContent = snippet(hit.entry.text, terms[0]);
      li.appendChild(a);
      li.appendChild(p);
      list.appendChild(li);
    });
    list.hidden = false;
  }

  input.addEventListener("input", function () { search(input.value); });
  input.addEventListener("keydown", function (event) {
    if (event.key === "Escape") { input.value = ""; search(""); }
  });
  var query = new URLSearchParams(window.location.search).get("q");
  if (query) { input.value = query; search(query); }
})();
