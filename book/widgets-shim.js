// Loaded after require.js and before the widget manager (embed-amd.js); makes the offline widgets work.
// 1. The widget manager finds its fonts and chunks beside the URL of whichever of its AMD modules asks, which
//    require.js would put under the page's own folder (chapters/@jupyter-widgets/...): map them to _static.
// 2. It typesets widget labels through MathJax 2's MathJax.Hub.Queue; the book runs MathJax 3, so give it a
//    small Hub whose Queue typesets through MathJax 3 (installed once the deferred MathJax script has run).
(function () {
  var here = document.currentScript.src.split("?")[0];
  var vendor = here.slice(0, here.lastIndexOf("/") + 1) + "html-manager";  // this file is _static/vendor/
  if (typeof window.require === "function" && window.require.config) {  // pages with widgets only
    // every AMD module the bundle defines (base, controls, html-manager) sets its public path from its own
    // URL: put each of them in the vendored folder, so whichever loads the fonts finds them there
    window.require.config({paths: {"@jupyter-widgets/html-manager/dist": vendor,
                                   "@jupyter-widgets/html-manager": vendor + "/html-manager",
                                   "@jupyter-widgets/controls": vendor + "/controls",
                                   "@jupyter-widgets/base": vendor + "/base"}});
  }
  document.addEventListener("DOMContentLoaded", function () {
    var mj = window.MathJax;
    if (!mj || mj.Hub) return;
    mj.Hub = {
      Queue: function () {
        Array.prototype.forEach.call(arguments, function (cmd) {
          if (Array.isArray(cmd) && cmd[0] === "Typeset" && cmd[2] && mj.startup && mj.startup.promise) {
            mj.startup.promise.then(function () { return mj.typesetPromise([cmd[2]]); });
          }
        });
      }
    };
  });
})();
