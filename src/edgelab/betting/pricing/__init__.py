"""The value model's maths: the fair price from many books (`consensus`), the expected value of
the best price and the Value Scores (`value`), their fitted parameters (`params`) and pricing
a market's moments (`moments`). Pure: arrays in, arrays out, no I/O."""
