// An asc transform (`asc ... --transform path/to/transform.js`) for the wasm-sandbox guest SDK.
// AssemblyScript exports can only be identifiers, while the guest ABI marks data functions and
// channel entry points with a colon (`wsdata:echo`, `wschan:pump`), a name no source identifier can
// take by accident. This renames exports starting with `wsdata_` or `wschan_` accordingly, after
// compilation, so the guest's source stays plain AssemblyScript.
import { Transform } from 'assemblyscript/transform';

const PREFIXES = ['wsdata_', 'wschan_'];

export default class WasmSandboxExports extends Transform {
  afterCompile(module) {
    const binaryen = this.binaryen;
    const renames = [];
    for (let i = 0, n = module.getNumExports(); i < n; i++) {
      const info = binaryen.getExportInfo(module.getExportByIndex(i));
      const prefix = PREFIXES.find((p) => info.name.startsWith(p));
      if (prefix && info.kind === binaryen.ExternalFunction) renames.push(info);
    }
    for (const info of renames) {
      const prefix = PREFIXES.find((p) => info.name.startsWith(p));
      const renamed = `${prefix.slice(0, -1)}:${info.name.slice(prefix.length)}`;
      module.removeExport(info.name);
      module.addFunctionExport(info.value, renamed);
    }
  }
}
