// The QR page: every second, fetch the order's status with a fresh QR code;
// go on when the login is complete, show the hint otherwise.
(function () {
  'use strict';
  var root = document.getElementById('tillit-login');
  if (!root) return;
  var url = root.getAttribute('data-status-url');
  var qr = document.getElementById('tillit-qr');
  var hint = document.getElementById('tillit-hint');
  // With the script running, the page moves on by itself: the no-script Continue button is not needed.
  var collect = document.getElementById('tillit-collect');
  if (collect) collect.hidden = true;
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
        if (s.status === 'pending') setTimeout(tick, 1000);
      })
      .catch(function () { setTimeout(tick, 2000); });
  }
  setTimeout(tick, 1000);
})();
