"""Blue/green deployment: two complete environments, one switch, an instant flip back."""
from __future__ import annotations

from typing import Any

__all__ = ["BlueGreen"]


class BlueGreen:
    """Two complete environments; one serves, the other waits; a switch flips them.

    Examples
    --------
    After switching to green and rolling back, which environment serves?

    >>> bg = BlueGreen(blue="model v3", green="model v4")
    >>> bg.switch(); bg.live
    'green'
    >>> bg.rollback(); bg.live, bg.model
    ('blue', 'model v3')
    >>> [event for event, _ in bg.history]
    ['start', 'switch', 'rollback']
    """

    def __init__(self, blue: Any, green: Any, *, live: str = "blue") -> None:
        if live not in ("blue", "green"):
            raise ValueError(f"`live` must be 'blue' or 'green'; got {live!r}.")
        self.environments = {"blue": blue, "green": green}
        self._live = live
        self._previous: list[str] = []
        self._history: list[tuple[str, str]] = [("start", live)]

    @property
    def live(self) -> str:
        """Name of the environment receiving all traffic."""
        return self._live

    @property
    def idle(self) -> str:
        return "green" if self._live == "blue" else "blue"

    @property
    def model(self) -> Any:
        """The model in the live environment."""
        return self.environments[self._live]

    @property
    def history(self) -> tuple[tuple[str, str], ...]:
        """``(event, live environment afterwards)`` pairs, oldest first."""
        return tuple(self._history)

    def switch(self) -> None:
        """Send all traffic to the idle environment."""
        self._previous.append(self._live)
        self._live = self.idle
        self._history.append(("switch", self._live))

    def rollback(self) -> None:
        """Flip back to the environment that was live before the latest switch."""
        if not self._previous:
            raise RuntimeError("Nothing to roll back: `switch()` has not been called yet.")
        self._live = self._previous.pop()
        self._history.append(("rollback", self._live))
