// Runs one stage's main() from its package sources: `run-stage.ts <package> [args…]`,
// so pipelines in tests use the code under test, never a stale build.
const [pkg] = process.argv.splice(2, 1);
const mod = (await import(pkg!)) as { main: (argv?: string[]) => Promise<void> };
await mod.main();
