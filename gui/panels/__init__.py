"""Side panels about the model: the inspector, the generated-code view and its highlighter,
problems, and the checked entry fields they share."""
