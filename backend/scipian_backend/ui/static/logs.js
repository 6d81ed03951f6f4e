// Follows a pod's log on the logs page: a same-origin POST carrying the session's CSRF
// token in a header (a GET never mints a credential), answered with server-sent events
// read from the response body: `reset`, then the last N lines and each new one, `end`.
// No library; textContent only, so a log line is never markup.
(function () {
  'use strict';
  var state = document.getElementById('follow-state');
  var log = document.getElementById('log');
  var token = document.querySelector('form#logout input[name=csrf]');
  if (!state || !log || !token || !window.fetch || !window.TextDecoder) return;
  function say(text) { state.textContent = text; }
  function add(text) {
    var span = document.createElement('span');
    span.className = 'line';
    span.textContent = text;
    log.appendChild(span);
    log.appendChild(document.createTextNode('\n'));
  }
  function stop(text) {
    state.setAttribute('data-following', 'false');
    say(text);
  }
  var handlers = {
    reset: function () {
      log.textContent = '';
      say('Following: new lines appear as the pod writes them.');
      state.setAttribute('data-following', 'true');
    },
    line: add,
    end: function (data) { stop('Stopped: ' + data); },
    error: function (data) { stop('Stopped: ' + data); }
  };
  function dispatch(block) {
    var event = 'message', data = [];
    block.split('\n').forEach(function (l) {
      if (l.indexOf('event: ') === 0) event = l.slice(7);
      else if (l.indexOf('data: ') === 0) data.push(l.slice(6));
    });
    if (handlers[event]) handlers[event](data.join('\n'));
  }
  say('Connecting…');
  fetch(state.getAttribute('data-stream'), {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'X-CSRF-Token': token.value, Accept: 'text/event-stream' }
  }).then(function (r) {
    if (!r.ok) {
      return r.json().then(function (doc) { stop('Stopped: ' + doc.message); });
    }
    var reader = r.body.getReader();
    var decoder = new TextDecoder();
    var buffered = '';
    function next() {
      return reader.read().then(function (got) {
        if (got.done) {
          if (state.getAttribute('data-following') === 'true') {
            stop('Stopped: the connection ended; reload to follow again.');
          }
          return;
        }
        buffered += decoder.decode(got.value, { stream: true });
        var at;
        while ((at = buffered.indexOf('\n\n')) >= 0) {
          dispatch(buffered.slice(0, at));
          buffered = buffered.slice(at + 2);
        }
        return next();
      });
    }
    return next();
  }).catch(function () {
    stop('Stopped: the connection was lost; reload to follow again.');
  });
}());
