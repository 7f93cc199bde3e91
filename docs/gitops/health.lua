-- Argo CD health check for every mlendpoints.io kind (OnlineEndpoint, OnlineDeployment,
-- BatchEndpoint, BatchDeployment, BatchJob, InstanceType). Follows the kstatus rules in their
-- order, so Argo CD, Flux and Helm 4 --wait agree: Healthy = kstatus Current, Progressing =
-- InProgress, Degraded = Failed. Plain Lua 5.1 (Argo CD runs gopher-lua). Install it with
-- docs/gitops/argocd-cm.yaml; tests/chart/test_lua.py runs it against objects captured from a
-- real API server.
local hs = {}
if obj.status == nil or obj.status.conditions == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the mlendpoints operator to report status"
  return hs
end
if obj.metadata.generation ~= nil and obj.status.observedGeneration ~= nil
    and obj.status.observedGeneration ~= obj.metadata.generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. tostring(obj.metadata.generation)
  return hs
end
local ready = nil
for _, condition in ipairs(obj.status.conditions) do
  if condition.type == "Reconciling" and condition.status == "True" then
    hs.status = "Progressing"
    hs.message = condition.message or condition.reason or "Reconciling"
    return hs
  end
  if condition.type == "Stalled" and condition.status == "True" then
    hs.status = "Degraded"
    hs.message = condition.message or condition.reason or "Stalled"
    return hs
  end
  if condition.type == "Ready" then
    ready = condition
  end
end
if ready == nil then
  -- kstatus: no Ready condition and nothing in progress means Current.
  hs.status = "Healthy"
  hs.message = ""
elseif ready.status == "True" then
  hs.status = "Healthy"
  hs.message = ready.message or ""
else
  -- Ready=False or Unknown without Reconciling/Stalled: kstatus InProgress.
  hs.status = "Progressing"
  hs.message = ready.message or ready.reason or ""
end
return hs
