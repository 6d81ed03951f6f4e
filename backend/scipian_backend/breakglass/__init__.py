"""Break-glass: a deploy credential around a promotion gate, with its own grant, recorded
before it is issued and kept on the Environment until someone else acknowledges it."""
