// The enrolment page while the person logs in: every second, fetch a fresh QR
// code and the hint; reload when the login is over (the code, or why not).
(function () {
  'use strict';
  var root = document.getElementById('tillit-enrol');
  if (!root) return;
  var url = root.getAttribute('data-status-url');
  var qr = document.getElementById('tillit-qr');
  var hint = document.getElementById('tillit-hint');
  // With the script running the page moves on by itself: the no-script Continue link is not needed.
  var next = document.getElementById('tillit-continue');
  if (next) next.hidden = true;
  function tick() {
    fetch(url, { headers: { accept: 'application/json' }, credentials: 'same-origin' })
      .then(function (r) { return r.json(); })
      .then(function (s) {
        if (s.qr && qr) qr.src = s.qr;
        if (s.hint && hint && hint.textContent !== s.hint) hint.textContent = s.hint;
        if (s.status === 'pending') { setTimeout(tick, 1000); return; }
        window.location.reload();
      })
      .catch(function () { setTimeout(tick, 2000); });
  }
  setTimeout(tick, 1000);
})();
