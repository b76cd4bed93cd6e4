"""The timeline page in a real headless Chromium."""
