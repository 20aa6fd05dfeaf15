// Entry used when running from sources (tests); bin/pano-export runs the compiled main.
import { main } from './main.js';

main().catch((err) => {
  process.stderr.write(`pano-export: ${err?.message ?? err}\n`);
  process.exit(1);
});
