// The test page's app check: every second, fetch the order's status with a
// fresh QR code; go to the result when the order is finished.
(function () {
  'use strict';
  var root = document.getElementById('tillit-eid-test');
  if (!root) return;
  var url = root.getAttribute('data-status-url');
  var qr = document.getElementById('tillit-qr');
  var hint = document.getElementById('tillit-hint');
  var proceed = document.getElementById('tillit-continue');
  if (proceed) proceed.hidden = true;
  function tick() {
    fetch(url, { headers: { accept: 'application/json' }, credentials: 'same-origin' })
      .then(function (r) { return r.json(); })
      .then(function (s) {
        if (s.qr && qr) qr.src = s.qr;
        if (s.hint && hint && hint.textContent !== s.hint) hint.textContent = s.hint;
        if (s.next) { window.location.assign(s.next); return; }
        setTimeout(tick, 1000);
      })
      .catch(function () { setTimeout(tick, 2000); });
  }
  setTimeout(tick, 1000);
})();
