// The Track control (a form in each value-bet row and on the bet page, swapped by htmx):
// - a refusal (422 stake, 403 time-out, 429) replaces the form like a success does, so its
//   message shows where the form was (htmx leaves error answers unswapped by default);
// - the value-bet table refreshes itself: not while a stake is being typed, and a stake typed
//   but not sent survives the refresh.
(function () {
  "use strict";

  function isTrackForm(el) {
    return el && el.matches && el.matches("form.track");
  }

  document.addEventListener("htmx:beforeSwap", function (e) {
    if (isTrackForm(e.detail.elt) && e.detail.xhr.status >= 400) {
      e.detail.shouldSwap = true;
      e.detail.isError = false;
    }
    if (e.detail.elt && e.detail.elt.id === "bets-table") {
      var typed = {};
      e.detail.elt.querySelectorAll("form.track").forEach(function (form) {
        var stake = form.querySelector('input[name="stake"]');
        if (stake && stake.value) typed[form.dataset.market] = stake.value;
      });
      window.edgelabTypedStakes = typed;
    }
  });

  document.addEventListener("htmx:afterSwap", function () {
    var typed = window.edgelabTypedStakes;
    if (!typed) return;
    window.edgelabTypedStakes = null;
    document.querySelectorAll("#bets-table form.track").forEach(function (form) {
      var stake = form.querySelector('input[name="stake"]');
      if (stake && !stake.value && typed[form.dataset.market]) stake.value = typed[form.dataset.market];
    });
  });

  document.addEventListener("htmx:beforeRequest", function (e) {
    var el = e.detail.elt;
    if (!el || el.id !== "bets-table") return;
    var active = document.activeElement;
    if (active && active.closest && active.closest("#bets-table form.track")) e.preventDefault();
  });
})();
