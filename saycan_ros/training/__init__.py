"""Adapting the planner's language model to a kitchen: generated instruction -> plan data
(plan_data) and LoRA fine-tuning on it (planner_training)."""
