"""Spiking and sequence layers: neurons (maths separate from modules), attention, selective scan."""
