// The broker's queues as Warren sees them.
import { useQuery } from '@tanstack/react-query'
import { api } from './client'
import { keys } from './keys'
import type { QueueInfo } from './types'

/** `GET /queues`, refreshed every 10 s. */
export function useQueues() {
  return useQuery({
    queryKey: keys.queues,
    queryFn: () => api<QueueInfo[]>('/queues'),
    refetchInterval: 10_000,
  })
}
