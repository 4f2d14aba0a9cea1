"""netbuilder: build a network layer by layer and see every shape as Keras computes it."""

import streamlit as st

from netbuilder import Activation, Dense, Flatten, Input, Sequential

st.title("netbuilder")
model = Sequential([Input(shape=(3, 2)), Dense(16), Activation("relu"), Flatten(), Dense(4)], seed=0)
st.dataframe(model.summary_frame(), hide_index=True)
