// Reloads the page every data-refresh seconds, unless the operator is filling in a form.
(function () {
  var secs = parseInt(document.body.getAttribute("data-refresh") || "0", 10);
  if (!secs) { return; }
  setInterval(function () {
    var el = document.activeElement;
    if (el && el.form) { return; }
    if (document.querySelector("form.capture[data-busy]")) { return; }
    location.reload();
  }, secs * 1000);
  var f = document.querySelector("form.capture");
  if (f) { f.addEventListener("submit", function () { f.setAttribute("data-busy", "1"); }); }
})();
