// The status page, live: follows the case's event stream (under the
// session cookie) and, at each change, reads the page again and puts its
// new status in place. Without JavaScript the page has a refresh link.
(function () {
  "use strict";
  var region = document.getElementById("status");
  if (!region || !window.EventSource || !window.fetch || !window.DOMParser) {
    return;
  }
  var caseId = region.getAttribute("data-case");
  var updates = 0;
  function refresh() {
    fetch(window.location.pathname, { credentials: "same-origin" })
      .then(function (response) {
        return response.ok ? response.text() : null;
      })
      .then(function (html) {
        if (html === null) {
          return;
        }
        var page = new DOMParser().parseFromString(html, "text/html");
        var fresh = page.getElementById("status");
        if (fresh) {
          region.replaceChildren.apply(region, Array.prototype.slice.call(fresh.childNodes));
          updates += 1;
          region.setAttribute("data-updates", String(updates));
        }
      })
      .catch(function () {});
  }
  var source = new EventSource("/v1/applications/" + encodeURIComponent(caseId) + "/events");
  source.addEventListener("status", refresh);
  source.addEventListener("end", function () {
    source.close();
    region.setAttribute("data-ended", "true");
  });
  var note = document.getElementById("live-note");
  if (note) {
    note.hidden = false;
  }
  var manual = document.getElementById("refresh");
  if (manual) {
    manual.hidden = true;
  }
})();
