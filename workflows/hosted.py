"""The workflows a worker registers."""
from workflows.routing_retrain import RoutingRetrainWorkflow
from workflows.supervision import DepartmentSupervisionWorkflow
from workflows.work_order import WorkOrderWorkflow

WORKFLOWS = [WorkOrderWorkflow, DepartmentSupervisionWorkflow, RoutingRetrainWorkflow]
