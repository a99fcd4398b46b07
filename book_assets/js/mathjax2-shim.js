// The ipywidgets HTML manager typesets widget labels with the MathJax 2 API
// (MathJax.Hub.Queue); this book loads MathJax 3. Give MathJax 3 a minimal Hub
// so the widget snapshots render without a JavaScript error.
(function () {
  "use strict";
  function hub() {
    return {
      Queue: function (job) {
        var mj = window.MathJax;
        var element = Array.isArray(job) ? job[2] : undefined;
        if (element && mj && typeof mj.typesetPromise === "function") {
          mj.typesetPromise([element]).catch(function () {});
        }
      },
    };
  }
  var config = window.MathJax;
  if (!config || config.Hub) {
    return; // no math on this page, or MathJax 2
  }
  config.Hub = hub(); // used if widgets render before MathJax 3 has started
  config.startup = config.startup || {};
  var ready = config.startup.ready;
  config.startup.ready = function () {
    if (ready) {
      ready();
    } else {
      window.MathJax.startup.defaultReady();
    }
    window.MathJax.Hub = hub();
  };
})();
