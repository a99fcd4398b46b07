// Static explorers (mqlb.present.explorer, static edition): every state of an
// explorer was drawn at build time by the chapter's own code and saved as a PNG
// in _static/explorers/. This script swaps in the image of the state the reader
// picks; images load on demand, the default state is already in the page.
(function () {
  "use strict";
  var script = document.currentScript;
  var base = script ? script.src.replace(/js\/explorer\.js(\?.*)?$/, "explorers/") : "_static/explorers/";

  function setup(box) {
    var states = JSON.parse(box.getAttribute("data-states"));
    var controls = Array.prototype.slice.call(box.querySelectorAll("[data-index]"));
    var figure = box.querySelector(".mqlb-figure");
    var message = document.createElement("div");
    message.className = "mqlb-explorer-error";
    var image = figure.querySelector("img");
    var asked = 0;

    function stateKey() {
      return controls.map(function (c) { return c.value; }).join("-");
    }

    function done(key, started) {
      box.setAttribute("data-shown", key);
      box.setAttribute("data-ms", (performance.now() - started).toFixed(1));
      box.dispatchEvent(new CustomEvent("mqlb-shown", { detail: key }));
    }

    function show() {
      var started = performance.now();
      controls.forEach(function (c) {
        if (c.type === "range") {
          c.nextElementSibling.textContent = JSON.parse(c.getAttribute("data-labels"))[c.value];
        }
      });
      var key = stateKey();
      var ticket = ++asked;
      box.setAttribute("data-asked", key);
      if (Object.prototype.hasOwnProperty.call(states.errors, key)) {
        message.textContent = states.errors[key];
        figure.replaceChildren(message);
        done(key, started);
        return;
      }
      var next = new Image();
      next.alt = image ? image.alt : "explorer figure";
      next.src = base + states.images[key];
      next.decode().then(function () {           // loaded and decoded: shown without a blank frame
        if (ticket !== asked) { return; }        // the reader moved on meanwhile
        figure.replaceChildren(next);
        image = next;
        done(key, started);
      }, function () {
        if (ticket !== asked) { return; }
        message.textContent = "This state's figure could not be loaded.";
        figure.replaceChildren(message);
        done(key, started);
      });
    }

    // Preload, on demand, the states one step away along any control, so that
    // the next move finds its image decoded (a few images, never the whole set).
    var preloaded = {};
    function preload(control) {
      var here = controls.map(function (c) { return +c.value; });
      var targets = control ? [controls.indexOf(control)] : controls.map(function (_, i) { return i; });
      targets.forEach(function (i) {
        var count = controls[i].tagName === "SELECT" ? controls[i].options.length : +controls[i].max + 1;
        for (var p = 0; p < count; p++) {
          if (!control && Math.abs(p - here[i]) !== 1) { continue; }
          var state = here.slice(); state[i] = p;
          var name = states.images[state.join("-")];
          if (name && !preloaded[name]) {
            preloaded[name] = new Image();
            preloaded[name].src = base + name;
            preloaded[name].decode().catch(function () {});
          }
        }
      });
    }
    controls.forEach(function (c) {
      c.addEventListener("input", show);
      c.addEventListener("focus", function () { preload(c); });
      c.addEventListener("pointerenter", function () { preload(c); });
    });
    box.addEventListener("mqlb-shown", function () { preload(null); });
    box.setAttribute("data-shown", stateKey());
    box.setAttribute("data-ready", "1");
  }

  function start() {
    Array.prototype.forEach.call(document.querySelectorAll(".mqlb-static"), setup);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
