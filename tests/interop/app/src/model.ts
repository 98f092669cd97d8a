// The model every interop workflow's agent declares. Flue resolves it when a run starts, but
// the workflows never prompt, so no provider is called and no API key is needed.
// 1.0.0-beta.8 removed `model: false` (beta.9 rejects it when the run starts), and a model
// string is accepted by every supported release (1.0.0-beta.5 .. beta.9).
export const MODEL = 'anthropic/claude-haiku-4-5';
