// On a phone (the width at which the task page is one column) the case's side information and
// a document under review fold, so the form comes first; a tap on their title opens them.
// Without this script they stay open, below the form.
(function () {
  "use strict";
  if (!window.matchMedia("(max-width: 900px)").matches) return;
  document.querySelectorAll("details.fold-on-phone[open]").forEach(function (fold) {
    fold.open = false;
  });
})();
