// The session expiry warning (WCAG 2.2.1 Timing Adjustable): before the session ends for inactivity,
// a dialog says so and offers to stay signed in. Another tab may have kept the session alive, so the
// real time left is asked first (/session/etat does not count as activity).
(function () {
  "use strict";
  var body = document.body;
  var dialog = document.getElementById("session-warning");
  if (!dialog || !body.dataset.sessionWarnIn) { return; }
  var text = document.getElementById("session-warning-text");
  var live = document.getElementById("session-warning-live");
  var form = document.getElementById("session-extend-form");
  var button = document.getElementById("session-extend");
  var closer = document.getElementById("session-close");
  var signIn = document.getElementById("session-sign-in");
  closer.addEventListener("click", function () { dialog.close(); });
  var timer = null;
  var ticker = null;
  var deadline = 0;

  function csrfToken() {
    try { return JSON.parse(body.getAttribute("hx-headers") || "{}")["x-csrftoken"] || ""; } catch (e) { return ""; }
  }

  function schedule(warnIn) {
    window.clearTimeout(timer);
    timer = window.setTimeout(check, Math.max(0, warnIn) * 1000);
  }

  function say(message) {
    text.textContent = message;
    live.textContent = message;
  }

  function countdown() {
    var left = Math.max(0, Math.round((deadline - Date.now()) / 1000));
    if (left <= 0) {
      window.clearInterval(ticker);
      button.hidden = true;
      closer.hidden = false;
      signIn.hidden = false;
      say(text.dataset.textEnded);
      closer.focus();
      return;
    }
    text.textContent = text.dataset.templateLeft.replace("{seconds}", String(left));
    if (left % 30 === 0) { live.textContent = text.textContent; }
  }

  function warn(expiresIn) {
    deadline = Date.now() + expiresIn * 1000;
    button.hidden = false;
    if (!dialog.open) { dialog.showModal(); }
    button.focus();
    live.textContent = text.dataset.templateLeft.replace("{seconds}", String(expiresIn));
    countdown();
    window.clearInterval(ticker);
    ticker = window.setInterval(countdown, 1000);
  }

  function check() {
    fetch("/session/etat", { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (state) {
        if (!state.signed_in) { warn(0); return; }
        if (state.warn_in > 0) { schedule(state.warn_in); return; }
        warn(state.expires_in);
      })
      .catch(function () { schedule(30); });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    fetch("/session/prolonger", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Accept": "application/json", "x-csrftoken": csrfToken() }
    })
      .then(function (r) { return r.json(); })
      .then(function (state) {
        window.clearInterval(ticker);
        if (!state.signed_in) { warn(0); return; }
        dialog.close();
        schedule(state.warn_in);
      })
      .catch(function () { schedule(5); });
  });

  // Escape closes a dialog; here it means "I am still here" too.
  dialog.addEventListener("cancel", function (event) {
    event.preventDefault();
    if (!button.hidden) { form.requestSubmit(); } else { dialog.close(); }
  });

  schedule(parseInt(body.dataset.sessionWarnIn, 10));
})();
