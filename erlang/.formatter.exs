[
  inputs: ["mix.exs", ".formatter.exs", "{lib,test_ex,examples}/**/*.{ex,exs}"],
  line_length: 100
]
