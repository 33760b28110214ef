// tests/llama_cpp/generate.mjs — a real llama.cpp (node-llama-cpp, CPU build)
// runs GGUF files: for each pair "OURS=FIXTURE" it greedy-generates 24 tokens
// from a fixed prompt with each file and compares the texts. Prints one line
// per pair; exit status 1 when any pair differs or a file fails to load.
import { getLlama, LlamaCompletion } from "node-llama-cpp";

const PROMPT = "Once upon a time";
const TOKENS = 24;

const llama = await getLlama({ gpu: false, build: "never", logLevel: "error" });

async function generate(path) {
    const model = await llama.loadModel({ modelPath: path, gpuLayers: 0 });
    try {
        const context = await model.createContext({ contextSize: 128, threads: 1, seed: 0 });
        try {
            const completion = new LlamaCompletion({ contextSequence: context.getSequence() });
            return await completion.generateCompletion(PROMPT, {
                maxTokens: TOKENS, temperature: 0,
            });
        } finally {
            await context.dispose();
        }
    } finally {
        await model.dispose();
    }
}

let failed = 0;
for (const pair of process.argv.slice(2)) {
    const [label, ours, fixture] = pair.split("=");
    let a, b;
    try {
        a = await generate(ours);
        b = await generate(fixture);
    } catch (e) {
        console.log(`FAIL ${label}: ${e.message}`);
        failed++;
        continue;
    }
    const same = a === b && a.length > 0;
    if (!same) failed++;
    console.log(`${same ? "same" : "DIFF"} ${label}: qtf ${JSON.stringify(a)}` +
                (same ? "" : ` llama.cpp fixture ${JSON.stringify(b)}`));
}
process.exit(failed ? 1 : 0);
