// Keeps the promotion strips current: polls the dashboard's state URL every 2 s and
// updates each step's phase in place. textContent and class names only; stops once every
// promotion shown is Succeeded, Failed or Cancelled, or the session is gone.
(function () {
  'use strict';
  var root = document.querySelector('[data-state]');
  if (!root || !window.fetch) return;
  var url = root.getAttribute('data-state');
  var done = { Succeeded: true, Failed: true, Cancelled: true };
  function setPhase(el, phase) {
    el.className = el.className.replace(/\bphase-\S+/g, '').trim() + ' phase-' + phase;
  }
  function apply(item) {
    var scopes = document.querySelectorAll('[data-promo="' + item.name + '"]');
    Array.prototype.forEach.call(scopes, function (scope) {
      var head = scope.querySelector('.promo-phase');
      if (head) { head.textContent = item.phase; setPhase(head, item.phase); }
      item.steps.forEach(function (s) {
        var li = scope.querySelector('[data-step="' + s.environment + '"]');
        if (li) { li.querySelector('.phase').textContent = s.phase; setPhase(li, s.phase); }
        var cell = scope.querySelector('[data-step-row="' + s.environment + '"] .step-phase');
        if (cell) { cell.textContent = s.phase; setPhase(cell, s.phase); }
      });
    });
    return !!done[item.phase];
  }
  function poll() {
    fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/json' } })
      .then(function (r) { if (!r.ok) throw new Error(String(r.status)); return r.json(); })
      .then(function (doc) {
        var finished = doc.items.map(apply).every(Boolean);
        root.setAttribute('data-polled', String(Date.now()));
        if (!finished) setTimeout(poll, 2000);
      })
      .catch(function () { root.setAttribute('data-polling', 'stopped'); });
  }
  setTimeout(poll, 2000);
}());
