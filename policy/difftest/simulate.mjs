// simulate.mjs reads a JSON array of simulations (iam-simulate's Simulation
// shape) on stdin and writes one answer per simulation on stdout:
// {"result": "Allowed"|"ExplicitlyDenied"|"ImplicitlyDenied", "ignored": [...]}
// or {"error": "..."}. It is berth's independent oracle for IAM decisions.
import { runSimulation } from '@cloud-copilot/iam-simulate';

let text = '';
for await (const chunk of process.stdin) text += chunk;
const out = [];
for (const sim of JSON.parse(text)) {
  try {
    const r = await runSimulation(sim, {});
    if (r.resultType === 'single') {
      out.push({ result: r.overallResult, ignored: r.result.ignoredContextKeys ?? [] });
    } else if (r.resultType === 'error') {
      out.push({ error: JSON.stringify(r.errors) });
    } else {
      out.push({ error: 'unexpected result type ' + r.resultType });
    }
  } catch (e) {
    out.push({ error: String(e && e.stack || e) });
  }
}
process.stdout.write(JSON.stringify(out));
