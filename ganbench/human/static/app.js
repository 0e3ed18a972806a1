// ganbench human evaluation: one image at a time, answers posted as they are made.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  let state = null;   // the server's view: rater, done, total, item, image
  let shownAt = 0;    // when the current image finished loading
  let busy = true;    // no answer until an image is shown, and one answer per image

  function show(section) {
    for (const id of ["intro", "judge", "thanks"]) $(id).hidden = id !== section;
  }

  function fail(message) {
    const el = $("error");
    el.textContent = message;
    el.hidden = false;
  }

  function render(s) {
    state = s;
    $("rater").textContent = s.rater;
    $("bar").style.width = (s.total ? (100 * s.done) / s.total : 0) + "%";
    $("progress").setAttribute("aria-valuenow", String(s.done));
    $("progress").setAttribute("aria-valuemax", String(s.total));
    $("count").textContent = s.done + " of " + s.total + " judged";
    const url = new URL(window.location.href);
    if (url.searchParams.get("rater") !== s.rater) {  // the address resumes this rater
      url.searchParams.delete("new");
      url.searchParams.set("rater", s.rater);
      window.history.replaceState(null, "", url.toString());
    }
    busy = true;
    if (!s.item) { show("thanks"); return; }
    if ($("judge").hidden) return;  // the image loads once the rater starts
    setButtons(false);
    $("image").style.width = $("image").style.height = s.display_px + "px";  // the PNG's own size
    $("image").src = s.image;
  }

  function setButtons(on) { $("real").disabled = $("fake").disabled = !on; }

  $("image").addEventListener("load", () => {
    shownAt = performance.now();
    busy = false;
    setButtons(true);
  });
  $("image").addEventListener("error", () => fail("The image did not load; reload the page."));

  async function answer(choice) {
    if (busy || !state || !state.item) return;
    busy = true;
    setButtons(false);
    const body = { rater: state.rater, item: state.item, answer: choice,
                   ms: Math.max(0, Math.round(performance.now() - shownAt)) };
    try {
      const r = await fetch("/api/judge", { method: "POST", headers: { "Content-Type": "application/json" },
                                            body: JSON.stringify(body) });
      const s = await r.json();
      if (!r.ok && r.status !== 409) throw new Error(s.error || r.statusText);
      render(s);  // 409: another tab answered this one; continue from the server's state
    } catch (e) {
      fail("Your answer was not saved (" + e.message + "); reload the page to continue.");
    }
  }

  $("real").addEventListener("click", () => answer("real"));
  $("fake").addEventListener("click", () => answer("fake"));
  $("start").addEventListener("click", start);
  document.addEventListener("keydown", (e) => {
    if (e.repeat || e.altKey || e.ctrlKey || e.metaKey) return;
    if (!$("intro").hidden && e.key === "Enter") { e.preventDefault(); start(); return; }
    if ($("judge").hidden) return;
    const k = e.key.toLowerCase();
    if (k === "r" || e.key === "ArrowLeft") { e.preventDefault(); answer("real"); }
    else if (k === "f" || e.key === "ArrowRight") { e.preventDefault(); answer("fake"); }
  });

  function start() {
    show("judge");
    render(state);
  }

  async function load() {
    const params = new URL(window.location.href).searchParams;
    const rater = params.get("rater");
    const query = rater ? "?rater=" + encodeURIComponent(rater) : params.has("new") ? "?new=1" : "";
    try {
      const r = await fetch("/api/state" + query);
      const s = await r.json();
      if (!r.ok) throw new Error(s.error || r.statusText);
      show(!s.item ? "thanks" : s.done ? "judge" : "intro");
      render(s);
    } catch (e) {
      fail("Could not reach the study server (" + e.message + ").");
    }
  }
  load();
})();
