"""The Streamlit app: state and callbacks in one place, one module per page."""
