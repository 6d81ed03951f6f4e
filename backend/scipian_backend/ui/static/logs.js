// Follows a pod's log on the logs page (server-sent events from the backend): the stream
// repeats the last N lines (reset), then each new line. No library; textContent only, so
// a log line is never markup.
(function () {
  'use strict';
  var state = document.getElementById('follow-state');
  var log = document.getElementById('log');
  if (!state || !log || !window.EventSource) return;
  var source = new EventSource(state.getAttribute('data-stream'));
  function say(text) { state.textContent = text; }
  function add(text) {
    var span = document.createElement('span');
    span.className = 'line';
    span.textContent = text;
    log.appendChild(span);
    log.appendChild(document.createTextNode('\n'));
  }
  say('Connecting…');
  source.addEventListener('reset', function () {
    log.textContent = '';
    say('Following: new lines appear as the pod writes them.');
    state.setAttribute('data-following', 'true');
  });
  source.addEventListener('line', function (e) { add(e.data); });
  function stop(text) {
    source.close();
    state.setAttribute('data-following', 'false');
    say(text);
  }
  source.addEventListener('end', function (e) { stop('Stopped: ' + e.data); });
  source.addEventListener('error', function (e) {
    stop(e.data ? 'Stopped: ' + e.data : 'Stopped: the connection was lost; reload to follow again.');
  });
}());
