// The QR page of every eID app login (the IdP's, the eID test's, the enrolment's):
// every second, fetch the status at the root's data-status-url for a fresh QR
// code and hint. The answer says what comes next: `next` (go there), `retry`
// (show #tillit-retry instead of the QR code), `status: 'pending'` (poll again).
// Any other answer ends polling as the root's data-on-end says: `reload` the
// page, `poll` on regardless, or (by default) stop.
(function () {
  'use strict';
  var root = document.querySelector('[data-status-url]');
  if (!root) return;
  var url = root.getAttribute('data-status-url');
  var onEnd = root.getAttribute('data-on-end');
  var qr = document.getElementById('tillit-qr');
  var hint = document.getElementById('tillit-hint');
  // With the script running, the page moves on by itself: the no-script Continue button is not needed.
  var noScript = document.querySelectorAll('[data-without-script]');
  for (var i = 0; i < noScript.length; i++) noScript[i].hidden = true;
  function tick() {
    fetch(url, { headers: { accept: 'application/json' }, credentials: 'same-origin' })
      .then(function (r) { return r.json(); })
      .then(function (s) {
        if (s.qr && qr) qr.src = s.qr;
        if (s.hint && hint && hint.textContent !== s.hint) hint.textContent = s.hint;
        if (s.next) { window.location.assign(s.next); return; }
        if (s.retry) {
          if (qr) qr.hidden = true;
          var retry = document.getElementById('tillit-retry');
          if (retry) retry.hidden = false;
          return;
        }
        if (s.status === 'pending' || onEnd === 'poll') setTimeout(tick, 1000);
        else if (onEnd === 'reload') window.location.reload();
      })
      .catch(function () { setTimeout(tick, 2000); });
  }
  setTimeout(tick, 1000);
})();
