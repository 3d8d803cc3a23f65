"""Export and import dialogs."""
