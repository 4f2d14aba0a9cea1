"""What the app edits: model specs, undo history, share links, presets, input data, explanations. No Streamlit."""
