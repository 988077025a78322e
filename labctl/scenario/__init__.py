"""Scenarios: scripted steps (faults, traffic, assertions) run against a lab, with reports and grading."""
