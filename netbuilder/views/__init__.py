"""What the app shows, as data: the dataflow graph, tables, heatmaps, exported code. No Streamlit."""
