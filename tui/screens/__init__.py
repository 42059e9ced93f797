"""The microscope's screens: the neuron view, the cell finder, the step-through sampler, and the
small app that hosts them outside the dashboard (`rnn-tui inspect`, `rnn-tui sample --step`)."""
