// Counts the access requests' windows down (every .countdown[data-remaining], in seconds
// when the page was made) and, on a request's page, polls its state every 3 s while it is
// Pending or Approved: the phase and the time left follow the backend's. textContent only;
// the page works without this script (the server wrote the time left).
(function () {
  'use strict';
  var start = Date.now();
  var clocks = Array.prototype.slice.call(document.querySelectorAll('.countdown[data-remaining]'));
  function span(s) {
    s = Math.max(0, Math.floor(s));
    if (s < 60) return s + ' s';
    var m = Math.floor(s / 60), r = s % 60;
    var two = function (n) { return (n < 10 ? '0' : '') + n; };
    if (m < 60) return r ? m + ' min ' + two(r) + ' s' : m + ' min';
    var h = Math.floor(m / 60); m = m % 60;
    if (h < 48) return m ? h + ' h ' + two(m) + ' min' : h + ' h';
    var d = Math.floor(h / 24); h = h % 24;
    return h ? d + ' d ' + h + ' h' : d + ' d';
  }
  function tick() {
    var gone = (Date.now() - start) / 1000;
    clocks.forEach(function (el) {
      var left = Number(el.getAttribute('data-remaining')) - gone;
      el.textContent = left > 0 ? span(left) : 'now';
      el.setAttribute('data-ticking', 'true');
    });
  }
  if (clocks.length) { tick(); setInterval(tick, 1000); }

  var root = document.getElementById('request');
  if (!root || !window.fetch) return;
  var url = root.getAttribute('data-state');
  var open = { Pending: true, Approved: true };
  function poll() {
    fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/json' } })
      .then(function (r) { if (!r.ok) throw new Error(String(r.status)); return r.json(); })
      .then(function (doc) {
        var head = root.querySelector('.request-phase');
        if (head && head.textContent !== doc.phase) {
          head.textContent = doc.phase;
          head.className = 'request-phase phase-' + doc.phase;
          root.setAttribute('data-phase', doc.phase);
        }
        var win = document.getElementById('window');
        var clock = win && win.querySelector('.countdown');
        if (clock && doc.remaining !== null) {
          clock.setAttribute('data-remaining', String(doc.remaining + (Date.now() - start) / 1000));
          var label = win.querySelector('.window-label');
          if (label && doc.phase === 'Approved') label.textContent = 'Access ends in';
        } else if (win && doc.remaining === null) {
          win.hidden = true;
        }
        root.setAttribute('data-polled', String(Date.now()));
        if (open[doc.phase]) setTimeout(poll, 3000);
      })
      .catch(function () { root.setAttribute('data-polling', 'stopped'); });
  }
  if (open[root.getAttribute('data-phase')]) setTimeout(poll, 3000);
}());
