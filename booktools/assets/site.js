/* On a phone, the chapter list and the page's contents start folded, so the text comes
   first; a tap on "Chapters" or "On this page" opens them. Wide screens keep them open. */
(function () {
  "use strict";
  if (window.matchMedia && window.matchMedia("(max-width: 800px)").matches) {
    document.querySelectorAll("details.chapter-list, details.page-toc").forEach(function (d) {
      d.removeAttribute("open");
    });
  }
})();
