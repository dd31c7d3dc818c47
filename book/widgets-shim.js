// Loaded after require.js and before the widget manager (embed-amd.js); makes the offline widgets work.
// 1. The widget manager finds its fonts and chunks beside the AMD module's URL, which require.js would put
//    under the page's own folder (chapters/@jupyter-widgets/...): map it to the vendored copy in _static.
// 2. It typesets widget labels through MathJax 2's MathJax.Hub.Queue; the book runs MathJax 3, so give it a
//    small Hub whose Queue typesets through MathJax 3 (installed once the deferred MathJax script has run).
(function () {
  var here = document.currentScript.src.split("?")[0];
  var vendor = here.slice(0, here.lastIndexOf("/") + 1) + "html-manager";  // this file is _static/vendor/
  if (typeof window.require === "function" && window.require.config) {  // pages with widgets only
    window.require.config({paths: {"@jupyter-widgets/html-manager/dist": vendor}});
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
