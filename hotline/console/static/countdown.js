// Live countdowns: every element with data-due (an ISO instant) shows "剩 …" or "超时 …", in the
// very words the server wrote (hotline/console/web.py, countdown). Without scripts the server's
// text stays as rendered; with them it follows the clock, also in rows htmx swaps in later.
(function () {
  "use strict";

  function words(ms) {
    var late = ms < 0, secs = Math.floor(Math.abs(ms) / 1000);
    var d = Math.floor(secs / 86400), h = Math.floor(secs % 86400 / 3600), m = Math.floor(secs % 3600 / 60);
    var text = d ? d + "天" + h + "小时" : h ? h + "小时" + m + "分" : m + "分";
    return (late ? "超时 " : "剩 ") + text;
  }

  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-due]").forEach(function (el) {
      var due = Date.parse(el.getAttribute("data-due"));
      if (isNaN(due)) return;
      var text = words(due - now);
      if (el.textContent !== text) el.textContent = text;
      el.classList.toggle("late", due < now);
    });
  }

  document.addEventListener("DOMContentLoaded", tick);
  setInterval(tick, 10000);
})();
