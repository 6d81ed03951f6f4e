// Loads a release's pods on the pods page: a same-origin POST carrying the session's CSRF
// token in a header (a GET never mints a credential). textContent only.
(function () {
  'use strict';
  var state = document.getElementById('pods-state');
  var table = document.getElementById('pods');
  var empty = document.getElementById('no-pods');
  var token = document.querySelector('form#logout input[name=csrf]');
  if (!state || !table || !token || !window.fetch) return;
  function cell(row, text) {
    var td = document.createElement('td');
    td.textContent = text;
    row.appendChild(td);
    return td;
  }
  state.textContent = 'Loading…';
  fetch(state.getAttribute('data-load'), {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'X-CSRF-Token': token.value, Accept: 'application/json' }
  })
    .then(function (r) { return r.json().then(function (doc) { return { ok: r.ok, doc: doc }; }); })
    .then(function (res) {
      if (!res.ok) throw new Error(res.doc.message || 'the backend refused');
      var body = table.querySelector('tbody');
      res.doc.pods.forEach(function (p) {
        var row = document.createElement('tr');
        row.setAttribute('data-pod', p.name);
        cell(row, p.name);
        cell(row, p.phase);
        var links = cell(row, '');
        p.containers.forEach(function (c) {
          var a = document.createElement('a');
          a.href = state.getAttribute('data-logs') + encodeURIComponent(p.name) +
            '?container=' + encodeURIComponent(c);
          a.textContent = c;
          links.appendChild(a);
          links.appendChild(document.createTextNode(' '));
        });
        body.appendChild(row);
      });
      table.hidden = res.doc.pods.length === 0;
      empty.hidden = res.doc.pods.length !== 0;
      state.textContent = 'Read just now.';
      state.setAttribute('data-loaded', 'true');
    })
    .catch(function (e) {
      state.textContent = 'Not loaded: ' + e.message;
      state.setAttribute('data-loaded', 'false');
    });
}());
