// Prints probeSandbox()'s answer as JSON (run by probe_test.ts with a doctored PATH).
import { probeSandbox } from "../../src/supervisor/sandbox/mod.ts";
console.log(JSON.stringify(await probeSandbox()));
