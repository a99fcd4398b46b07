// The ipywidgets HTML manager loads its chunks and icon fonts relative to its
// RequireJS module path. Map that path to the vendored copy in _static/vendor/,
// or the browser asks for them next to the page (and gets a 404).
(function () {
  var loader = document.querySelector('script[src*="vendor/require.js"]');
  if (!loader || typeof requirejs === "undefined") {
    return;
  }
  var base = loader.src.replace(/require\.js(\?.*)?$/, "html-manager");
  // Modules named "@jupyter-widgets/<package>" (the controls, base) take the
  // same folder, so their fonts resolve there too.
  requirejs.config({
    paths: { "@jupyter-widgets/html-manager/dist": base, "@jupyter-widgets": base }
  });
})();
