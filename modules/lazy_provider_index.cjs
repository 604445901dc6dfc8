"use strict";
// Preloaded into the jsii runtime's Node processes by modules/provider_loading.py (see there for why).
// A prebuilt provider's lib/index.js binds every resource module eagerly, one generated line each:
//   exports.instance = __importStar(require("./instance/index"));
// This turns each such line into a getter that requires the module the first time the jsii kernel
// looks it up, then replaces itself with the loaded value. Lines of any other shape, and every
// other file, are compiled unchanged.
const Module = require("module");

const PROVIDER_INDEX = /[\\/]@cdktn[\\/]provider-[a-z0-9]+[\\/](?:.*[\\/])?lib[\\/]index\.js$/;
const EAGER_BINDING = /^exports\.([A-Za-z_$][\w$]*) = __importStar\(require\(("\.\/[^"]+")\)\);$/gm;

function lazyBinding(_line, name, path) {
  return (
    `Object.defineProperty(exports, "${name}", { enumerable: true, configurable: true, get() {` +
    ` const value = __importStar(require(${path}));` +
    ` Object.defineProperty(exports, "${name}", { value, enumerable: true });` +
    ` return value; } });`
  );
}

const compile = Module.prototype._compile;
Module.prototype._compile = function compileProviderIndexLazily(content, filename) {
  const source = PROVIDER_INDEX.test(filename) ? content.replace(EAGER_BINDING, lazyBinding) : content;
  return compile.call(this, source, filename);
};
