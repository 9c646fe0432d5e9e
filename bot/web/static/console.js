// Herald console: progressive enhancement only. Every page works without this script; with it, incident lists
// and incident pages update in place, SLA clocks and ages tick, and times follow the browser's time zone.
// Time comes from the server (data-now, and "now" in every live answer), so a wrong laptop clock changes nothing.
"use strict";

(function () {
  const POLL_MS = 5000;
  let skew = 0; // server time minus browser time, in ms

  function setServerNow(iso) {
    const server = Date.parse(iso);
    if (!Number.isNaN(server)) skew = server - Date.now();
  }

  function serverNow() {
    return Date.now() + skew;
  }

  function pad(n) {
    return String(n).padStart(2, "0");
  }

  // Same format as the server's bot.postmortem.render.duration.
  function duration(seconds) {
    const total = Math.max(0, Math.round(seconds));
    const days = Math.floor(total / 86400);
    const hours = Math.floor((total % 86400) / 3600);
    const minutes = Math.floor((total % 3600) / 60);
    const secs = total % 60;
    if (days) return `${days}d ${pad(hours)}h ${pad(minutes)}m`;
    if (hours) return `${hours}h ${pad(minutes)}m ${pad(secs)}s`;
    if (minutes) return `${minutes}m ${pad(secs)}s`;
    return `${secs}s`;
  }

  // Same format as the server's bot.web.format.ago.
  function ago(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    if (s < 60) return `${s}s`;
    const m = Math.floor(s / 60);
    if (m < 60) return `${m}m`;
    const h = Math.floor(m / 60);
    if (h < 24) return `${h}h ${pad(m % 60)}m`;
    return `${Math.floor(h / 24)}d ${pad(h % 24)}h`;
  }

  function tick() {
    const now = serverNow();
    document.querySelectorAll("[data-sla-due]").forEach((el) => {
      const left = (Date.parse(el.dataset.slaDue) - now) / 1000;
      if (left > 0) {
        el.textContent = `${duration(left)} left`;
      } else {
        el.dataset.slaBreached = el.dataset.slaDue;
        delete el.dataset.slaDue;
        el.classList.replace("sla-running", "sla-breached");
      }
    });
    document.querySelectorAll("[data-sla-breached]").forEach((el) => {
      el.textContent = `breached ${duration((now - Date.parse(el.dataset.slaBreached)) / 1000)} ago`;
    });
    document.querySelectorAll("time[data-since]").forEach((el) => {
      el.textContent = ago((now - Date.parse(el.getAttribute("datetime"))) / 1000);
    });
  }

  function announce(text) {
    const status = document.querySelector(".live-status");
    if (status) status.textContent = text;
  }

  // A person typing in (or focused on) part of the live area, or listening to a call in it, keeps it as it is.
  function busy(container) {
    const active = document.activeElement;
    if (active && active !== document.body && container.contains(active)) return true;
    return Array.from(container.querySelectorAll("audio")).some((audio) => !audio.paused);
  }

  async function refresh(container) {
    if (document.hidden) return;
    let answer;
    try {
      const response = await fetch(container.dataset.live, {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      });
      if (response.status === 401) {
        announce("Signed out: reload the page to sign in again.");
        return;
      }
      if (!response.ok) return;
      answer = await response.json();
    } catch (error) {
      announce("Live updates paused: Herald is not answering.");
      return;
    }
    setServerNow(answer.now);
    if (answer.version === container.dataset.version || busy(container)) return;
    container.innerHTML = answer.html;
    container.dataset.version = answer.version;
    tick();
    announce(`Updated at ${new Date(serverNow()).toLocaleTimeString()}.`);
  }

  function followBrowserZone() {
    const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (!zone) return;
    const had = document.cookie.split("; ").find((c) => c.startsWith("herald_tz="));
    if (had && decodeURIComponent(had.split("=")[1]) === zone) return;
    document.cookie = `herald_tz=${encodeURIComponent(zone)}; path=/; max-age=31536000; samesite=lax`;
    const shown = document.querySelector("[data-tz]");
    const asked = new URLSearchParams(location.search).has("tz");
    if (!had && shown && shown.textContent !== zone && !asked) location.reload();
  }

  function autosubmit() {
    document.querySelectorAll("form[data-autosubmit] select").forEach((select) => {
      select.addEventListener("change", () => select.form.requestSubmit());
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    setServerNow(document.body.dataset.now);
    followBrowserZone();
    autosubmit();
    tick();
    setInterval(tick, 1000);
    document.querySelectorAll("[data-live]").forEach((container) => {
      setInterval(() => refresh(container), POLL_MS);
      document.addEventListener("visibilitychange", () => refresh(container));
    });
  });
})();
