"""wattplan's reconciler: load a snapshot, plan it (pure), write the decisions back."""
