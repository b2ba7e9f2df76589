/*
 * Legacy order processing bean (tab-indented, as exported from an old IDE).
 */
package com.acme.legacy.orders;

import java.util.List;
import java.util.Map;
import java.util.logging.Logger;

import javax.annotation.PostConstruct;
import javax.ejb.EJB;
import javax.ejb.Stateless;
import javax.ejb.TransactionAttribute;
import javax.ejb.TransactionAttributeType;
import javax.inject.Inject;
import javax.persistence.EntityManager;
import javax.persistence.PersistenceContext;
import javax.xml.bind.annotation.XmlTransient;

@Stateless
public class OrderProcessor {

	private static final Logger LOG = Logger.getLogger(OrderProcessor.class.getName());

	@PersistenceContext(unitName = "orders")
	private EntityManager em;

	@EJB
	private PricingService pricing;

	@Inject
	private AuditTrail audit;
	
	private int processed;

	@PostConstruct
	void init() {
		LOG.info("order processor ready");
	}

	public int getProcessed() { return processed; }

	@TransactionAttribute(TransactionAttributeType.REQUIRES_NEW)
	public void process(List<Order> orders) {
		for (Order order : orders) {
			if (order.getTotal() == null) {
				continue;
			}
			order.setTotal(pricing.price(order));
			em.persist(order);
			audit.record("processed " + order.getId());
			processed++;
		}
	}

	public void cancel(Order order) {
		if (order.getTotal() == null) {
			return;
		}
		em.remove(em.merge(order));
		audit.record("cancelled " + order.getId());
	}
}
