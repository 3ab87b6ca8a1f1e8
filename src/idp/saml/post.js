// The SAML HTTP-POST binding: send the response form to the e-service as soon as the page is read.
(function () {
  'use strict';
  var form = document.getElementById('saml-post');
  if (form) form.submit();
})();
